/**
 * A fixed-size hash table from lba to a small non-negative number, allocated once. Entries are
 * stamped with a generation, so `clear()` costs nothing: a new generation hides every entry.
 * There is no single-entry removal; users clear and re-insert.
 * @devsWhenUsed
 */
export class LbaTable {
    private keys: number[] = []
    private values: number[] = []
    private gens: number[] = []
    private mask: number
    private gen = 1
    private count = 0
    /** Entries the table can hold (half its slots, to keep probes short). */
    readonly capacity: number

    constructor(capacity: number) {
        let size = 8
        while (size < capacity * 2) size *= 2
        this.mask = size - 1
        this.capacity = capacity
        for (let i = 0; i < size; i++) {
            this.keys.push(0)
            this.values.push(0)
            this.gens.push(0)
        }
    }

    size(): number {
        return this.count
    }

    isFull(): boolean {
        return this.count >= this.capacity
    }

    clear(): void {
        this.gen++
        this.count = 0
    }

    /** The value stored for lba, or -1. */
    get(lba: number): number {
        let h = this.slotOf(lba)
        while (this.gens[h] === this.gen) {
            if (this.keys[h] === lba) return this.values[h]
            h = (h + 1) & this.mask
        }
        return -1
    }

    /** Stores value for lba; false when lba is new and the table is full. */
    set(lba: number, value: number): boolean {
        let h = this.slotOf(lba)
        while (this.gens[h] === this.gen) {
            if (this.keys[h] === lba) {
                this.values[h] = value
                return true
            }
            h = (h + 1) & this.mask
        }
        if (this.count >= this.capacity) return false
        this.gens[h] = this.gen
        this.keys[h] = lba
        this.values[h] = value
        this.count++
        return true
    }

    private slotOf(lba: number): number {
        return (Math.imul(lba, 0x9e3779b1) >>> 16) & this.mask
    }
}
