"""PVE's own file formats, shared by the lab (which plays Proxmox) and apply (which edits
a node's files the way Proxmox would).

This package imports nothing of the project and only the standard library, with relative
imports inside: apply ships it to the nodes as Ansible ``module_utils`` so the node edits
its own ``/etc/network/interfaces`` with the very reader/writer the lab uses.

- ``interfaces``: ``/etc/network/interfaces`` as pve-common ``PVE/Network/Interfaces.pm``
  reads and writes it
- ``edit``: a stack's interfaces applied to a node's current file, keeping what the stack
  does not manage
"""
