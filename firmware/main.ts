// The board entry: brings up the drivers and runs a primary's replication on them: the block
// store on the SPI NOR flash, the link channel over the TCP link, the pipeline and its cycle
// (firmware/boot/boardStart.ts). The whole boot check ran when the image was built
// (bin/gen-board-config.mjs runs firmware/boot/bootCheck.ts on the configuration against the
// DeviceScript runtime and refuses to embed one with a problem), so the image carries no
// checking code: it prints the check's notes, probes the flash, and says in one line per
// problem what it did not find. An application's writes go to the firmware's `board`
// (PrimaryBoard.write), from the callback runStarted takes as its second argument. Every frame
// of the link is sealed with the member's key, read from the board's settings (SEQMIRROR_KEY,
// deployed from .env.local): without it the board does not start.
import * as ds from "@devicescript/core"
import { runStarted, startChecked } from "./boot/boardStart"
import { BOARD_CONFIG_JSON, BOARD_MEMBER_INDEX, BOARD_NOTES, boardExtras } from "./boot/boardConfig"
import { KEY_SETTING, readKeySetting } from "../hal/devicescript/settingsKey"
import { DsLinkCipher } from "../hal/devicescript/linkCipher"
import { LinkSeal } from "./link/seal"

const key = await readKeySetting(new ds.Settings(), KEY_SETTING, 2000)
let sealer: LinkSeal | null = null
if (key) sealer = new LinkSeal(new DsLinkCipher(), key, BOARD_MEMBER_INDEX)
runStarted(
    await startChecked({ config: JSON.parse(BOARD_CONFIG_JSON), memberIndex: BOARD_MEMBER_INDEX, problems: [], notes: BOARD_NOTES }, undefined, { key: key }),
    undefined,
    sealer,
    boardExtras
)
