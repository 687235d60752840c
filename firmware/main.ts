// The board entry. It checks the configuration against what the runtime can do and brings up
// the drivers (hal/devicescript/board.ts). Replication on a board needs the pipeline, the
// block store and the link channel in one image; together they are above the DeviceScript
// VM's 64 KB bytecode limit today (docs/HARDWARE.md), so this image stops after the checks.
import * as ds from "@devicescript/core"
import { startBoard } from "../hal/devicescript/board"
import { BOARD_CONFIG_JSON, BOARD_CONFIG_SOURCE } from "./boot/boardConfig"

const started = await startBoard(BOARD_CONFIG_JSON, { source: BOARD_CONFIG_SOURCE })
if (started.ok)
    console.log("seqmirror: drivers ready; replication does not fit this runtime's 64 KB image limit yet")
