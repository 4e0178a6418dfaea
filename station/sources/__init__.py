"""Where cameras come from: the device-source interface, the udev source and its dock tracker, the
simulated dock, USB port power.
"""
