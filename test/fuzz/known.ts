/**
 * Failures the campaign finds in code outside the decoders it may change, each with its
 * reproducer, until that code is changed. The replay test checks that each still fails as
 * described: once one passes, its input belongs in the corpus as a regression line instead.
 */
export interface KnownFailure {
    target: string
    /** The failure message, with numbers masked as # (engine.ts compares them so). */
    pattern: RegExp
    input: string
    where: string
}

export const KNOWN: KnownFailure[] = [
    {
        // a PORTION whose data is longer than a block (or whose lba is 2^24 or more): the store
        // refuses the staging write with BadArgument, and RemoteBoard.staged() tries it again
        // every STAGING_RETRY_MS for as long as the session lasts; the seq can never complete
        target: "remote",
        pattern: /^a portion the store refused for good \(bad argument, /,
        input: "0203000000c00000000149000103000000062d2d2d2d010e070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707000e0002020000000400",
        where: "firmware/remote/remoteBoard.ts (staged: a write refused for a bad argument is retried)",
    },
]

export function isKnown(target: string, message: string): boolean {
    return KNOWN.some((k) => k.target === target && k.pattern.test(message))
}
