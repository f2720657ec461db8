"""The schedule: slots from the RRULE (pure), the rule parser, and the cadence in words."""
