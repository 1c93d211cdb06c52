// ESLint for the web page's JavaScript (deploy/eslint.sh, run by `make lint`): plain ES modules
// loaded by the browser as they are, so the browser's globals and no build step. The vendored
// plotly.js is not ours to lint.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["gateway/web/static/vendor/**"] },
  js.configs.recommended,
  {
    files: ["gateway/web/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules: {
      eqeqeq: "error",
      "no-var": "error",
      "prefer-const": "error",
      "no-shadow": "error",
      "no-implicit-globals": "error",
    },
  },
];
