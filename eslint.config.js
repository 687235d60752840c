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
        rules: {
            // a name that starts with _ is unused on purpose (a parameter an interface requires)
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
            // closures name the object they belong to `self`, the same way in every file
            "@typescript-eslint/no-this-alias": ["error", { allowedNames: ["self"] }],
        },
    },
    {
        // tests read the JSON that commands print, and build invalid input on purpose
        files: ["test/**"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
)
