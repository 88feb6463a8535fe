"""Traffic through a HealthDemo's Service: the client Pod that sends it (`pod`), reading what it
counted (`reader`), and those counts kept exact in the status (`tally`)."""
