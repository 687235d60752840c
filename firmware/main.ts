// The board entry: checks the configuration against the runtime, brings up the drivers and
// runs a primary's replication on them: the block store on the SPI NOR flash, the link channel
// over the TCP link, the pipeline and its cycle (hal/devicescript/board.ts). A board that cannot
// start prints one line per problem. The configuration was validated when the image was built
// (bin/gen-board-config.mjs refuses to embed one that fails validateConfig), so the image
// carries no validation code: it checks only what the runtime can do (checkBuilt). An
// application's writes go to the firmware's `board` (PrimaryBoard.write), from the callback
// runStarted takes as its second argument.
import { runStarted, startChecked } from "../hal/devicescript/board"
import { checkBuilt } from "./boot/bootCheck"
import { deviceScriptCapabilities } from "./boot/capabilities"
import { BOARD_CONFIG_JSON, BOARD_CONFIG_SOURCE } from "./boot/boardConfig"

const caps = deviceScriptCapabilities()
runStarted(await startChecked(checkBuilt(BOARD_CONFIG_JSON, BOARD_CONFIG_SOURCE, caps), caps))
