import * as ds from "@devicescript/core"

// Board entry. Wiring of configuration, drivers and firmware follows in hal/devicescript/.
console.log("seqmirror: board entry")
