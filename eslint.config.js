// One lint configuration for the whole repository (ESLint 9 flat config). The code is written in
// standard style (no semicolons, single quotes, a space before a function's parentheses), so it is
// neostandard with its TypeScript rules; untyped, so a run stays well under a minute on two cores.
const neostandard = require('neostandard')

module.exports = [
  ...neostandard({
    ts: true,
    ignores: [
      ...neostandard.resolveIgnoresFromGitignore(),
      '**/generated/**',
      'bench/out/**',
      'bench/.data/**'
    ]
  }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited (its errors are handled inside).
      'no-void': ['error', { allowAsStatement: true }],
      // `const X = {...} as const` with `type X = ...` is how the contracts define enums; the
      // compiler itself reports real redeclarations.
      '@typescript-eslint/no-redeclare': 'off',
      // Short objects are written several properties to a line across the codebase.
      '@stylistic/object-property-newline': 'off',
      // STYLE.md: a function reads in one screen (~80 lines); one that grows past it is split.
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      // …and a source file stays under ~300 lines; one that must be longer says why in an
      // eslint-disable comment at its top.
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }]
    }
  },
  {
    // Tests and benchmarks build long scenarios on purpose.
    files: ['**/test/**', 'e2e/**', 'bench/**'],
    rules: { 'max-lines-per-function': 'off', 'max-lines': 'off' }
  }
]
