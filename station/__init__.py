"""bodydock station core: slots, state machine, journal, audit log, offload and delivery."""

__version__ = "0.1.0"
