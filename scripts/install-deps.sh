#!/usr/bin/env bash
# Installs the Debian packages tinyxf needs to build, test and run its examples.
# Idempotent: packages already present are skipped, apt is only touched when something is missing.
#   scripts/install-deps.sh              what the default build (GCC) needs
#   scripts/install-deps.sh --with-clang also clang and its sanitizer/libFuzzer runtimes, for
#                                        scripts/ci-extra.sh (CI runs it)
set -euo pipefail
PACKAGES=(g++ cmake ninja-build pkg-config libxtensor-dev libxsimd-dev xtl-dev libopenblas-dev
          libutf8proc-dev zlib1g-dev libzip-dev nlohmann-json3-dev catch2 ca-certificates
          libopenmpi-dev openmpi-bin)  # MPI: the distributed tests (optional in CMake: TINYXF_MPI)
for arg in "$@"; do
  case $arg in
    --with-clang) PACKAGES+=(clang libclang-rt-dev) ;;
    *) echo "install-deps: unknown option '$arg' (--with-clang)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
