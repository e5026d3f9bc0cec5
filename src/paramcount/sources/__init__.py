"""Sources: each turns one kind of target into an Inventory of records."""
