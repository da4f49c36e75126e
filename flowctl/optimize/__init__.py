"""`flowctl optimize`: metrics and computed recommendations from run history."""
