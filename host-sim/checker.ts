import { BlockId, History } from "./workload"

/**
 * The consistency checker (docs/DESIGN.md, "Checking consistency").
 *
 * With A[b] = the highest write counter of board b that the remote shows, the remote image is
 * consistent iff
 *   - every visible write W has D_W[b] ≤ A[b] for every board b (nothing it depends on is
 *     missing), and
 *   - every lba of board b shows the newest write to it among counters ≤ A[b] (a write that was
 *     never acknowledged may be missing: it was lost with power and nothing depends on it).
 * A block that does not decode as a write of the history is a violation too.
 */
export type ImageReader = (board: number, lba: number) => Buffer | null

export function decodeImage(
    history: History,
    lbaCount: number,
    read: ImageReader,
    decode: (b: Buffer) => BlockId | null,
    violations: string[],
    where: string
): BlockId[][] {
    const image: BlockId[][] = []
    for (let b = 0; b < history.boards; b++) {
        const row: BlockId[] = []
        for (let lba = 0; lba < lbaCount; lba++) {
            const data = read(b, lba)
            let id: BlockId | null = null
            if (data) {
                id = decode(data)
                if (!id) violations.push(where + ": board " + b + " lba " + lba + " holds a block no write produced")
                else if (id.board !== b || id.lba !== lba || !history.get(id.board, id.counter)) {
                    violations.push(where + ": board " + b + " lba " + lba + " holds write " + id.board + ":" + id.counter + " of another place")
                    id = null
                }
            }
            row.push(id ? id : new BlockId(b, lba, 0))
        }
        image.push(row)
    }
    return image
}

/** Checks the remote image; returns the violations found (empty when consistent). */
export function checkRemote(history: History, image: BlockId[][], where: string): string[] {
    const violations: string[] = []
    const applied: number[] = []
    for (let b = 0; b < history.boards; b++) {
        let a = 0
        for (let i = 0; i < image[b].length; i++) if (image[b][i].counter > a) a = image[b][i].counter
        applied.push(a)
    }
    for (let b = 0; b < history.boards; b++) {
        const row = image[b]
        const acked = history.ackedByLba[b]
        for (let lba = 0; lba < row.length; lba++) {
            const v = row[lba].counter
            if (v > 0) {
                const w = history.get(b, v)
                if (w)
                    for (let d = 0; d < history.boards; d++)
                        if (w.deps[d] > applied[d] && !history.isOut(d, w.deps[d]) && !history.lostAfter(d, applied[d], w.deps[d])) {
                            violations.push(
                                where +
                                    ": write " +
                                    b +
                                    ":" +
                                    v +
                                    " (lba " +
                                    lba +
                                    ") is visible but the write " +
                                    d +
                                    ":" +
                                    w.deps[d] +
                                    " it depends on is not (board " +
                                    d +
                                    " shows up to " +
                                    applied[d] +
                                    ")"
                            )
                            break
                        }
            }
            // the block shows its newest acknowledged write or a newer one: nothing to look up
            const list = acked[lba]
            if (list.length === 0 || list[list.length - 1] <= v) continue
            const e = history.newestAcked(b, lba, applied[b])
            if (v < e && !history.excused(b, lba, e))
                violations.push(
                    where +
                        ": board " +
                        b +
                        " lba " +
                        lba +
                        " shows write " +
                        v +
                        " but write " +
                        e +
                        " to it is acknowledged and older than write " +
                        applied[b] +
                        " that is visible"
                )
        }
    }
    return violations
}

/** After power loss on a primary: every acknowledged write must still be there (or a newer one). */
export function checkPrimary(history: History, board: number, image: BlockId[][], where: string): string[] {
    const violations: string[] = []
    const list = history.writes[board]
    for (let lba = 0; lba < image[board].length; lba++) {
        const e = history.newestAcked(board, lba, list.length)
        const v = image[board][lba].counter
        if (v < e && !history.excused(board, lba, e))
            violations.push(where + ": board " + board + " lba " + lba + " lost acknowledged write " + e + " (shows " + v + ")")
    }
    return violations
}

/** The newest acknowledged write of board b to lba that `image` lacks (it shows an older one
 * and the loss is not excused), or 0 when it holds it or a newer one. */
export function lacksAcked(history: History, image: BlockId[][], b: number, lba: number): number {
    const e = history.newestAcked(b, lba, history.writes[b].length)
    return image[b][lba].counter < e && !history.excused(b, lba, e) ? e : 0
}

/** Once replication has caught up: every acknowledged write is on the remote (or a newer one). */
export function checkCaughtUp(history: History, image: BlockId[][]): string[] {
    const violations: string[] = []
    for (let b = 0; b < history.boards; b++)
        for (let lba = 0; lba < image[b].length; lba++) {
            const e = lacksAcked(history, image, b, lba)
            if (e > 0)
                violations.push("remote: board " + b + " lba " + lba + " never received acknowledged write " + e + " (shows " + image[b][lba].counter + ")")
        }
    return violations
}
