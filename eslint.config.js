// Lint for every TypeScript and JavaScript file of the project (`npm run lint`, run by
// `npm test`). tsc checks types and unused names; this catches what compiles but is wrong or
// misleading.
import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
    { ignores: ["node_modules/**", ".devicescript/**", "firmware/boot/boardConfig.ts"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        languageOptions: {
            globals: { console: "readonly", process: "readonly", setTimeout: "readonly", clearTimeout: "readonly", URL: "readonly" },
        },
        rules: {},
    },
)
