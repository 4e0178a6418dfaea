"""The station core: slots and their state machine, the engine that drives them, events, release to the
next wearer, alerts and clock state.
"""
