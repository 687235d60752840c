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

export const KNOWN: KnownFailure[] = []

export function isKnown(target: string, message: string): boolean {
    return KNOWN.some((k) => k.target === target && k.pattern.test(message))
}
