import fc from "fast-check"
import { Rng } from "./rng"

/** A property of a decoder did not hold for an input (the message says which). */
export class FuzzFailure extends Error {}

export function check(ok: boolean, what: string): void {
    if (!ok) throw new FuzzFailure(what)
}

/**
 * One decoder of outside input under fuzzing. An input is a byte string; `run` feeds it to the
 * decoder and throws FuzzFailure when a property fails. Any other exception is a failure too
 * (an exception escaped the decoder), and so is a run longer than `timeLimitMs`.
 */
export interface Target {
    name: string
    /** What it feeds, and what it checks, in a line. */
    about: string
    /** Valid encodings of every kind the decoder takes (structure-aware). */
    valid: fc.Arbitrary<Buffer>
    /** Longest input the mutations make. */
    maxLen: number
    /** Bound on one input's run time (ms). */
    timeLimitMs: number
    /** Feeds one input and checks the properties. */
    run(input: Buffer): void
    /** Mutates an input (default: byte mutations, then `reseal` on half of them). */
    mutate?(rng: Rng, input: Buffer, pool: readonly Buffer[]): Buffer
    /** Makes a mutated input's checksum good again, so that mutations reach the fields behind it. */
    reseal?(input: Buffer, rng: Rng): Buffer
    /** Share of the inputs drawn from `valid` rather than mutated (default 0.25). */
    validShare?: number
}

export function hex(b: Buffer): string {
    return b.toString("hex")
}

export function unhex(s: string): Buffer {
    const t = s.replace(/\s+/g, "")
    if (!/^([0-9a-fA-F]{2})*$/.test(t)) throw new Error("not hex")
    return Buffer.from(t, "hex")
}
