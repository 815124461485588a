#!/usr/bin/env bash
# Type-checks sst.config.ts (or the files given) offline, with the SST platform's own types: the recipe in
# ../shared/FACTS.md. `sst deploy` and a plain `sst install` need Pulumi and bun from outside the npm registry;
# this needs only the registry, so it runs in CI and on a fresh clone.
#
#   1. `sst install` writes .sst/platform (sources and package.json), then fails fetching bun/pulumi: ignored.
#   2. `npm install --ignore-scripts` inside .sst/platform, devDependencies included (@types/archiver and
#      @types/bun, without which the platform's own sources report errors).
#   3. .sst/platform/config.d.ts: what `sst install` would generate, minus the providers it could not fetch:
#      the platform globals, `aws` as the @pulumi/aws namespace, and `$config`.
#   4. tsc --noEmit over the config (and everything it imports) with a generated tsconfig.
#
# Steps 1-3 run once per SST version (about a minute); later runs only type-check. Exit status is tsc's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PLATFORM=".sst/platform"
mkdir -p .sst

# Two checks at once (a test and a developer) must not both install into .sst/platform.
exec 9>".sst/typecheck.lock"
flock 9

SST_VERSION="$(node -p "require('./node_modules/sst/package.json').version")"
READY="$PLATFORM/.typecheck-ready"

if [[ ! -f "$READY" || "$(cat "$READY")" != "$SST_VERSION" ]]; then
  echo "sst-typecheck: preparing $PLATFORM for sst $SST_VERSION (once per version)..." >&2
  rm -rf "$PLATFORM"
  SST_STAGE=ci SST_SKIP_DEPENDENCY_CHECK=1 SST_TELEMETRY_DISABLED=1 npx --no-install sst install >/dev/null 2>&1 || true
  if [[ ! -f "$PLATFORM/package.json" ]]; then
    echo "sst-typecheck: 'sst install' did not write $PLATFORM/package.json" >&2
    exit 2
  fi
  (cd "$PLATFORM" && npm install --ignore-scripts --include=dev --no-audit --no-fund --loglevel=error >/dev/null)
  cat >"$PLATFORM/config.d.ts" <<'EOF'
// Written by scripts/sst-typecheck.sh: the globals `sst install` would declare, for type-checking only.
import "./src/global.d.ts";
import type { AppInput, App, Config } from "./src/config";
import * as _aws from "@pulumi/aws";

declare global {
  // @ts-expect-error: the same namespace re-export SST generates
  export import aws = _aws;
  interface Providers {
    providers?: {
      aws?: (_aws.ProviderArgs & { version?: string }) | boolean | string;
    };
  }
  export const $config: (
    input: Omit<Config, "app"> & {
      app(input: AppInput): Omit<App, "providers"> & Providers;
    },
  ) => Config;
}
EOF
  echo "$SST_VERSION" >"$READY"
fi

FILES=("$@")
if [[ ${#FILES[@]} -eq 0 ]]; then FILES=("sst.config.ts"); fi
LIST=""
for f in "${FILES[@]}"; do
  abs="$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
  LIST="$LIST\"$abs\","
done

TSCONFIG=".sst/tsconfig.sst-typecheck.$$.json"
trap 'rm -f "$TSCONFIG"' EXIT
cat >"$TSCONFIG" <<EOF
{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2023"],
    "module": "ESNext",
    "moduleResolution": "Bundler",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true,
    "resolveJsonModule": true,
    "types": ["node"],
    "typeRoots": ["$ROOT/node_modules/@types"]
  },
  "files": [${LIST%,}]
}
EOF
npx --no-install tsc -p "$TSCONFIG" --pretty false
