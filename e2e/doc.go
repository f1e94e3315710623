// Package e2e holds comp's end-to-end scenarios: one table of behaviours a Docker Compose user
// would recognise, each run on every runtime with the built comp binary (see internal/e2e for
// the harness and the COMP_E2E_* variables that select runtimes and features).
//
//	go test ./e2e/                                  # docker and embedded
//	COMP_E2E_RUNTIMES=docker go test ./e2e/ -run 'TestScenarios/docker/'
package e2e
