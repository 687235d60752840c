import { describe, expect, it } from "vitest"
import { defaultSimOptions, Simulation, SimOptions } from "../../host-sim/sim"
import { Prng } from "../../host-sim/prng"
import { seqAfter } from "../../firmware/seq"

// Seqs are u32 and wrap from 4294967295 to 0 (at ten seqs a second, after 13.6 years); from
// 2^31 on, 0 lies after every seq of the group in serial-number order. These runs start a group
// there (--first-seq: every flash as if the seq before had been applied) and cross the wrap.
// Virtual time: each run is the simulator's, deterministic for its seed.

function options(over: Partial<SimOptions>): SimOptions {
    return { ...defaultSimOptions(), boards: 3, durationMs: 30000, ...over }
}

/** Runs `o`, replacing the remote by a new board with a blank flash at `replaceAt` ms. */
function runReplacing(o: SimOptions, replaceAt: number): { sim: Simulation; violations: string[]; consistent: boolean; resyncs: number } {
    const sim = new Simulation(o)
    sim.start()
    sim.kernel.setTimer(replaceAt, () => sim.replaceRemote(new Prng(7), 2000, null))
    sim.kernel.run(o.durationMs, Number.MAX_SAFE_INTEGER)
    const r = sim.finish()
    return { sim, violations: r.violations, consistent: r.consistent, resyncs: r.resyncs }
}

/** Runs `o` (4 boards from `firstSeq`): primary 1 is lost with its flash at 8 s (its new
 * board up `offMs` later, to restore), and the remote replaced by a blank one at `remoteAt`. */
function runLosingBoth(firstSeq: number, offMs: number, remoteAt: number) {
    const o = options({ firstSeq, seed: 1, boards: 4 })
    const sim = new Simulation(o)
    sim.start()
    let replaced = false
    sim.kernel.setTimer(8000, () => (replaced = sim.replacePrimary(1, new Prng(9), offMs)))
    sim.kernel.setTimer(remoteAt, () => sim.replaceRemote(new Prng(7), 2000, null))
    sim.kernel.run(o.durationMs, Number.MAX_SAFE_INTEGER)
    return { replaced, r: sim.finish() }
}

/** A sweep's run: every fault of the two replacements, 60 s. */
function runReplacements(firstSeq: number, seed: number, boards: number) {
    return new Simulation(options({ firstSeq, seed, boards, durationMs: 60000, faults: ["replace-primary", "replace"] })).run()
}

/** The run ended consistent, with `restores` restores. */
function expectConsistent(r: { violations: string[]; consistent: boolean; restores: number }, restores: number): void {
    expect(r.violations).toEqual([])
    expect(r.consistent).toBe(true)
    expect(r.restores).toBe(restores)
}

describe("a group across the wrap of its u32 seqs", () => {
    it("no faults: the remote applies every seq across 4294967295 to 0 and ends consistent", () => {
        const first = 4294967196
        const sim = new Simulation(options({ firstSeq: first }))
        const r = sim.run()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        // the applied seq went past the wrap (it is after the first seq, and below it as a number)
        expect(seqAfter(r.appliedSeq, first)).toBe(true)
        expect(r.appliedSeq).toBeLessThan(first)
        expect(r.portionsApplied).toBeGreaterThan(1000)
    }, 60000)

    for (const first of [2147483700, 3221225472, 4294967000]) {
        it(`a new remote with a blank flash once the group is at seq ${first}: every member copies its image, the remote ends consistent`, () => {
            // a blank remote's applied seq used to be 0, which from 2^31 on lies after the
            // members' confirmed seqs: they took the remote as ahead of them, confirmed 0 and
            // copied nothing, and the new remote never got their images
            const { sim, violations, consistent, resyncs } = runReplacing(options({ firstSeq: first, seed: 3 }), 8000)
            expect(violations).toEqual([])
            expect(consistent).toBe(true)
            expect(resyncs).toBeGreaterThanOrEqual(1)
            expect(sim.faultsInjected.remoteReplaced).toBe(1)
        }, 60000)
    }

    it("a primary lost with its flash across the wrap: the blank board restores its image from the remote", () => {
        // a blank board's confirmed seq is 0, none: it used to be compared as a seq, so past 2^31
        // the restore took the remote's image as already in and restored nothing
        const sim = new Simulation(options({ firstSeq: 4294967000, seed: 1, faults: ["replace-primary"], boards: 4, durationMs: 60000 }))
        const r = sim.run()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        expect(r.restores).toBeGreaterThanOrEqual(1)
    }, 60000)

    it("a primary lost with its flash and the remote replaced during its restore, at seq 2147483700: the board takes its seqs after the newest the remote heard of", () => {
        // the new remote had applied nothing, so the board restored no block: its store saw no
        // seq (0, none), and the board took that 0 for a seq; past 2^31 the newest seq the remote
        // heard of lies before 0, so its seqs started at 1, almost half a turn after the group's,
        // and the group followed it there (the remote's resync never ended)
        const { replaced, r } = runLosingBoth(2147483700, 300, 8100)
        expect(replaced).toBe(true)
        expectConsistent(r, 1)
        expect(seqAfter(r.appliedSeq, 2147483700)).toBe(true)
    }, 60000)

    it("the remote replaced while a primary lost with its flash restores, at seq 2147483700: the board keeps no seq from a remote that heard of none", () => {
        // the new remote had heard of no seq (0) when the board's restore ended: the board kept
        // 0 as the newest seq it had adopted, which past 2^31 lies after the group's seqs, and
        // started its seqs at 1; the group followed it there and the new remote never committed
        const { replaced, r } = runLosingBoth(2147483700, 2000, 10800)
        expect(replaced).toBe(true)
        expectConsistent(r, 1)
        expect(seqAfter(r.appliedSeq, 2147483700)).toBe(true)
    }, 60000)

    it("the remote replaced during a restore's pass, at seq 2147483700 (a sweep's seed): the blocks the pass wrote reach the new remote", () => {
        // the board's restore wrote blocks from the old remote, as of its applied seq, then
        // took the new remote's empty image (applied 0) and confirmed nothing: a board that
        // confirmed no seq copies nothing to a new remote, and the new remote never had those
        // blocks (acknowledged writes missing while later ones showed: unsafe). The restore now
        // confirms the seq of the blocks it holds, and the board copies them all
        const r = runReplacements(2147483700, 10, 6)
        expectConsistent(r, 1)
    }, 60000)

    it("the remote replaced just after a primary was lost with its flash, at seq 4294967000: the board's empty image is confirmed as of the newest seq heard, and its seqs reach the new remote", () => {
        // the new remote had applied nothing but heard of seqs: the board confirmed no seq, so
        // its copy was as of 0, which past 2^31 lies after its seqs: the new remote took them as
        // covered by the copy and applied a cut without them (unsafe)
        const { replaced, r } = runLosingBoth(4294967000, 2000, 8050)
        expect(replaced).toBe(true)
        expectConsistent(r, 1)
    }, 60000)

    it("a board restored from a remote that heard of no seq, at seq 4294967000 (a sweep's seed): it takes the group's seq, and the new remote stages its portions", () => {
        // the board, fresh, took the group's seq from its first shuttle; the new remote, before
        // any member announced a base, took its applied seq 0 for a seq, and dropped the
        // board's first portions as already applied: it waited for them for good
        const r = runReplacements(4294967000, 25, 4)
        expectConsistent(r, 1)
    }, 60000)

    it("a board restored when the newest seq the remote heard of is 0 itself (a sweep's seed): its seqs start after 0", () => {
        // the remote says 0 for a newest seq heard when it heard of none; the board took every
        // 0 for none, kept no newest seq, and started after the seq of its image, 4294967284:
        // the lost board's seqs up to 0 were never reported short, and the group suspended for good
        const r = runReplacements(4294967000, 37, 4)
        expectConsistent(r, 2)
    }, 60000)

    it("a new remote before any member announced a base, at seq 2147483700 (a sweep's seed): it takes the members' messages of seqs past 2^31", () => {
        // its applied seq was 0 until a member's RESYNC set its blank base: past 2^31 the
        // group's seqs lie before 0, and it dropped a restored board's SEQ_DONEs (and could
        // drop manifests and portions) as of seqs it had applied: it waited for them for good
        expectConsistent(runReplacements(2147483700, 42, 5), 1)
    }, 60000)

    it("two boards restored while the group crosses 2^31 (a sweep's seed): a remote that heard of no seq keeps no floor of seqs", () => {
        // the first restore, from a new remote that had heard of none, left it a floor of seqs
        // of 0 (none taken for seq 0); past 2^31, 0 lies after the group's seqs: the second
        // board's newest seq heard was 0, its seqs started at 1 and the group followed (unsafe)
        expectConsistent(runReplacements(2147483400, 1, 5), 2)
    }, 60000)

    // every fault class, 60 s, from 40 seqs before the wrap to 0 (sweeps' seeds): seq 0 confirmed
    // was taken for "no seq confirmed" (PipelineStore.hasConfirmed tells them apart now)
    const everyClass = (seed: number, boards: number) =>
        new Simulation(
            options({
                firstSeq: 4294967256,
                seed,
                boards,
                durationMs: 60000,
                faults: ["power", "link", "bus", "reboot", "slow", "replace", "death", "rot", "remotefail", "ram", "attack", "replace-primary"],
            })
        ).run()

    it("a board suspended with seq 0 confirmed resumes (sweeps' seeds): its seq 0 counts as tracked", () => {
        // a member back from the dead at seq 0, suspended for a damaged block given up: it
        // confirmed seq 0 locally, took it for none, never resumed, and the new remote's full
        // resync waited for its copy for good
        for (const seed of [1, 6]) {
            const r = everyClass(seed, 2)
            expect(r.violations, "seed " + seed).toEqual([])
            expect(r.consistent).toBe(true)
        }
    }, 120000)

    it("a new remote and a board that confirmed seq 0 (a sweep's seed): the board copies its whole image", () => {
        // the board took the new remote's applied seq as its own confirmed one (0 taken for none:
        // "a new group, goes on from 0") and copied nothing: the remote applied seq 48 with the
        // board's blocks missing (unsafe)
        const r = everyClass(16, 8)
        expect(r.safe).toBe(true)
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    }, 120000)

    it("the primary site lost across the wrap while a new remote has applied nothing: the promoted image holds none of the unapplied seqs", () => {
        // the remote was replaced before the disaster and had applied no seq when the operator
        // promoted it; a promotion discards what is staged above the applied seq, and that was
        // 0 after a boot: staged seqs before 0 stayed, and the promoted writes' commits (seqs 1,
        // 2, ...) made them visible, a cut the group never released
        const faults = ["power", "link", "bus", "reboot", "slow", "replace", "death", "rot", "remotefail", "ram", "attack", "replace-primary"]
        const sim = new Simulation(options({ firstSeq: 4294967000, seed: 6, boards: 4, durationMs: 60000, disasterMs: 30000, faults }))
        const r = sim.run()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        expect(sim.faultsInjected.remoteReplaced).toBe(1)
        expect(r.disaster!.promotedSeq).toBe(0)
        expect(r.disaster!.failedBack).toBe(true)
    }, 60000)
})
