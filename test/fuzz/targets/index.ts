import { Target } from "../target"
import { codecTargets } from "./codecs"
import { configTargets } from "./config"
import { consoleTargets } from "./console"
import { linkTargets } from "./link"
import { mountTargets } from "./mount"
import { remoteTargets } from "./remote"

/** Every decoder of outside input, in the order the table lists them. */
export const TARGETS: Target[] = [...codecTargets, ...linkTargets, ...remoteTargets, ...consoleTargets, ...configTargets, ...mountTargets]

/** Targets whose name is, or starts with, one of `names` ("link" takes link-remote and
 * link-primary). */
export function selectTargets(names: string[] | null): Target[] {
    if (!names) return TARGETS
    return TARGETS.filter((t) => names.some((n) => t.name === n || t.name.startsWith(n + "-")))
}
