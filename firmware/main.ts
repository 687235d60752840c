// The board entry: checks the configuration against the runtime, brings up the drivers and
// runs a primary's replication on them: the block store on the SPI NOR flash, the link channel
// over the TCP link, the pipeline and its cycle (hal/devicescript/board.ts, runBoard). A board
// that cannot start prints one line per problem. An application's writes go to the firmware's
// `board` (PrimaryBoard.write), from the callback runBoard takes as its third argument.
import { runBoard } from "../hal/devicescript/board"
import { BOARD_CONFIG_JSON, BOARD_CONFIG_SOURCE } from "./boot/boardConfig"

await runBoard(BOARD_CONFIG_JSON, { source: BOARD_CONFIG_SOURCE })
