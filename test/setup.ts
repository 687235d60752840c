import { afterEach } from "vitest"
import { nextTurn } from "./turn"

// Many tests run long synchronous simulations. Between two tests the worker gets one turn of its
// event loop, so that its messages to the test runner are answered in time (a file of
// synchronous tests otherwise holds the loop for its whole run; test/turn.ts says why).
afterEach(() => nextTurn())
