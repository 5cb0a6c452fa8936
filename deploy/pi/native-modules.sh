#!/usr/bin/env bash
# Lists every native module in the production dependency tree (a package with binding.gyp or prebuilds/) and how it
# gets a linux-arm64 binary on a Pi: shipped in the package, an optional per-platform package, downloaded at
# install time, or compiled there (which needs python3, make and g++). Prints a Markdown table (README.md has it).
# Run from a checkout after `npm ci`: it reads node_modules and package.json, nothing else.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# npm ls exits 1 over johnny-five's optional peers it calls invalid (browser-serialport, temporal); the list is whole.
tree=$(npm ls --omit=dev --all --parseable 2>/dev/null || true)
[ -n "$tree" ] || { echo "native-modules.sh: npm ls listed nothing: run npm ci first" >&2; exit 1; }
echo "| package | version | depended on by | linux-arm64 binary | on the Pi |"
echo "|---|---|---|---|---|"
sort -u <<<"$tree" | while read -r dir; do
  [ -f "$dir/binding.gyp" ] || [ -d "$dir/prebuilds" ] || continue
  node - "$dir" <<'EOF'
const { existsSync, readFileSync, readdirSync } = require("node:fs");
const { join } = require("node:path");
const dir = process.argv[2];
const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const install = pkg.scripts?.install ?? pkg.scripts?.postinstall ?? "";
const where = dir.slice(process.cwd().length + 1);
/** The lock path Node resolves `name` to from the package at `from` (the nearest node_modules upwards). */
const resolved = (from, name) => {
  for (let base = from; ; base = base.includes("/node_modules/") ? base.slice(0, base.lastIndexOf("/node_modules/")) : "") {
    const candidate = `${base === "" ? "" : `${base}/`}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (base === "") return undefined;
  }
};
const parents = Object.entries(lock.packages)
  .filter(([path, entry]) => { const deps = { ...entry.dependencies, ...entry.optionalDependencies }; return deps[pkg.name] !== undefined && resolved(path, pkg.name) === where; })
  .map(([path]) => (path === "" ? "tapwire" : path.split(/\/?node_modules\//).filter(Boolean).reverse().join(" in ")))
  .filter((name, index, all) => all.indexOf(name) === index);
const armPackage = Object.keys(pkg.optionalDependencies ?? {}).find((name) => name.endsWith("-linux-arm64"));
let binary, onPi;
if (existsSync(join(dir, "prebuilds", "linux-arm64"))) {
  binary = "shipped in the package (prebuilds/linux-arm64, N-API)";
  onPi = "nothing to build";
} else if (existsSync(join(dir, "prebuilds")) && readdirSync(join(dir, "prebuilds")).some((name) => name.endsWith("-linux-arm64"))) {
  // pkg-prebuilds' layout (node-hid): prebuilds/<binding>-linux-arm64/; node-hid loads HID_hidraw, which links libudev and libusb.
  binary = `shipped in the package (prebuilds/${readdirSync(join(dir, "prebuilds")).filter((name) => name.endsWith("-linux-arm64")).join(", ")}, N-API)`;
  onPi = "nothing to build; needs the shared libraries libusb-1.0-0 and libudev1 (the README's apt-get line)";
} else if (armPackage && lock.packages[`node_modules/${armPackage}`]) {
  binary = `optional package ${armPackage} (in package-lock.json)`;
  onPi = "nothing to build; without it cbor-x runs its JavaScript decoder";
} else if (/prebuild-install/.test(install)) {
  binary = "fetched by prebuild-install at `npm ci` from the package's GitHub release, if one is published for this Node ABI on linux-arm64 (not visible offline)";
  onPi = "otherwise node-gyp compiles it at `npm ci`: python3, make, g++ (minutes on a Pi 4)";
} else {
  binary = "none";
  onPi = "compiles with node-gyp: python3, make, g++";
}
console.log(`| ${pkg.name} | ${pkg.version} | ${parents.join(", ")} | ${binary} | ${onPi} |`);
EOF
done
