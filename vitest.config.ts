import { defineConfig } from "vitest/config"

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        setupFiles: ["test/setup.ts"],
        testTimeout: 120_000,
        hookTimeout: 120_000,
        // one test file per core: run mode's default leaves one core idle, which on a 2-core
        // machine runs the files one at a time (the whole npm test took 12 min 48 s so, and
        // 9 min 54 s with both cores)
        maxWorkers: "100%",
    },
})
