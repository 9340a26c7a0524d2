"""pve-provision: a declarative, plan-first provisioner for Proxmox VE HA clusters."""

__version__ = "0.1.0"
