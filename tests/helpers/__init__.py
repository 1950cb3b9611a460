"""What the test modules share: small problems and data, settings of each method, generated bad
inputs, launchers of real MPI jobs and long runs, and reference implementations. No test module
imports another test module; what several of them need lives here."""
