# Shared by run.sh and test.sh: make .venv with every pinned dependency, once.
# Re-installs only when pyproject.toml changed since the last install.

bootstrap_python() {
  local extras="${1:-}"
  local py="${PYTHON:-python3}"
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed (found: $("$py" --version 2>&1))." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating the virtual environment in .venv ..."
    "$py" -m venv .venv
  fi
  local stamp=".venv/.installed${extras:+-$extras}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing Python dependencies${extras:+ (with $extras)} ..."
    .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | _pip_noise
    .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}" 2>&1 | _pip_noise
    touch "$stamp"
  fi
  # libmagic for type sniffing; DejaVu to draw the pictures of documents that have none;
  # tesseract for OCR of images and scanned pages, with its
  # orientation and script detection (osd) and the languages it reads (about 2 MB each);
  # LibreOffice without its desktop, and the Python bridge its converter (unoserver) needs,
  # to read Word, Excel and PowerPoint 97-2003, .xlsx, .pptx, .ods, .odp and WordPerfect.
  install_debian libmagic1 fonts-dejavu-core tesseract-ocr tesseract-ocr-osd tesseract-ocr-eng \
    tesseract-ocr-fra tesseract-ocr-deu tesseract-ocr-spa tesseract-ocr-ita tesseract-ocr-por \
    tesseract-ocr-rus tesseract-ocr-ara tesseract-ocr-chi-sim tesseract-ocr-chi-tra \
    tesseract-ocr-jpn tesseract-ocr-jpn-vert tesseract-ocr-kor \
    libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui python3-uno
  # The embedded Redis (not the image's: a deployment runs its own): redis-tools holds the
  # Redis 7 server, and installs no service.
  install_debian redis-tools
  export PATH="$PWD/.venv/bin:$PATH"
  export REFLEX_USE_NPM=1 REFLEX_TELEMETRY_ENABLED=false
}

_pip_noise() {
  # Drops pip's warnings about index locations this machine's pip config lists but lacks.
  grep -v -e "is ignored: it is neither a file nor a directory" \
          -e "SetuptoolsDeprecationWarning" -e "^  !!" -e "with strategy, WheelFile" || true
}

install_debian() {
  # Installs Debian packages when missing (root, or sudo without a password).
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
  echo "Installing system packages: ${missing[*]} ..."
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
