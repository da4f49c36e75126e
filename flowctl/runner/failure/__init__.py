"""When steps fail: retry policies, circuit breakers, and the saga that undoes completed steps."""
