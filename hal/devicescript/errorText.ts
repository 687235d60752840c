/** The message of a caught exception, whatever was thrown (the runtime throws Errors whose
 * message is the only useful part; a thrown non-Error gives a fixed word). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- what was thrown can be anything
export function errorText(e: any): string {
    if (e !== null) if (e !== undefined) if (typeof e.message === "string") return e.message
    if (typeof e === "string") return e
    return "unknown error"
}
