"""Small shared pieces every layer uses: error types, option choices, safe file writes, interrupts, devices."""
