"""The file and run layer shared by the command line, batch and server: params, scenarios, one run, outputs."""
