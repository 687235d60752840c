import * as ds from "@devicescript/core"
import { FlashError } from "../flash"
import { SpiNorFlash } from "../spiNor"

// The first thing a board asks its flash: the JEDEC ID, awaited from the board's start
// (firmware/boot/boardStart.ts) with a time limit, since a missing chip may never answer.

/** What initFlash found: the driver's error (Timeout when no answer came in time) and the
 * JEDEC ID. */
export interface InitResult {
    err: FlashError
    id: number
    done: boolean
}

/** Awaits `flash.init`, whose callback comes from the run loop, for at most timeoutMs. */
export async function initFlash(flash: SpiNorFlash, timeoutMs: number): Promise<InitResult> {
    const r: InitResult = { err: FlashError.Timeout, id: -1, done: false }
    const me = ds.Fiber.self()
    let waiting = false
    flash.init((err, id) => {
        r.err = err
        r.id = id
        r.done = true
        if (waiting) if (me.suspended) me.resume(null)
    })
    const until = ds.millis() + timeoutMs
    while (!r.done) {
        const left = until - ds.millis()
        if (left <= 0) break
        waiting = true
        await ds.suspend(left)
        waiting = false
    }
    return r
}
