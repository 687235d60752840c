/**
 * Totals of one seq on one board: distinct lbas written (portions) and their bytes.
 * @devsWhenUsed
 */
export class SeqTotals {
    constructor(
        public seq: number,
        public portions: number,
        public bytes: number
    ) {}
}
