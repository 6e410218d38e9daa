"""churnguard: the domain core (pure, no I/O) and the Faust app's wiring."""
