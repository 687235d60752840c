// The link measurement rig lives with the benchmarks, which use it too.
export * from "../../host-sim/bench/linkPair"
