#!/usr/bin/env bash
# Puts a tapwire hub in place on a Raspberry Pi from an enrolment bundle (`tapwire hub enroll --out DIR`):
# the user, the config and its schema, the bundle, the state directory, the systemd units and the udev rules.
# Run again, it changes nothing that is already right; an existing hub.json or glasses.json is never overwritten.
# The units run the app from /opt/tapwire (README: clone and build there first).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/pi/install.sh --bundle DIR --merchant-id M --broker-url mqtts://HOST:PORT
         [--nfc-usb VID:PID[:SERIAL]]... | [--nfc-uart ttyS0|ttyAMA0]   [--panel-usb VID:PID[:SERIAL]]...
         [--scanner-usb VID:PID[:SERIAL]]
         [--glasses-bundle DIR --glasses-owner-id O --glasses-wallet-id W]   [--no-enable] [--root DIR]
  --nfc-usb     the PN532's USB-serial bridge (default: CP210x 10c4:ea60, CH340 1a86:7523, FTDI 0403:6001)
  --nfc-uart    the PN532 on the Pi's GPIO UART instead (ttyS0 when Bluetooth keeps ttyAMA0, as on a Pi 3/4)
  --panel-usb   the Firmata board (default: Arduino Uno 2341:0043, 2341:0001); a CH340 clone: 1a86:7523, and then
                give the reader by its own bridge or by serial number
  --scanner-usb a USB QR scanner in keyboard mode (read as a HID device, /dev/tapwire-scanner): customers may scan
                a payment code instead of tapping; hub.json gets a scanner section
  --root DIR    install into DIR instead of / (tests): no user, owner, systemctl start or udevadm on this machine
EOF
}

root=/
bundle="" merchant_id="" broker_url="" nfc_uart="" enable=1
glasses_bundle="" glasses_owner="" glasses_wallet=""
nfc_usb=() panel_usb=() scanner_usb=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --merchant-id) merchant_id=$2; shift 2 ;;
    --broker-url) broker_url=$2; shift 2 ;;
    --nfc-usb) nfc_usb+=("$2"); shift 2 ;;
    --nfc-uart) nfc_uart=$2; shift 2 ;;
    --panel-usb) panel_usb+=("$2"); shift 2 ;;
    --scanner-usb) scanner_usb=$2; shift 2 ;;
    --glasses-bundle) glasses_bundle=$2; shift 2 ;;
    --glasses-owner-id) glasses_owner=$2; shift 2 ;;
    --glasses-wallet-id) glasses_wallet=$2; shift 2 ;;
    --no-enable) enable=0; shift ;;
    --root) root=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "install.sh: $*" >&2; exit 2; }
[ -n "$bundle" ] && [ -n "$merchant_id" ] && [ -n "$broker_url" ] || { usage >&2; die "--bundle, --merchant-id and --broker-url are required"; }
for file in ca.pem cert.pem key.pem service.pub.pem; do [ -f "$bundle/$file" ] || die "$bundle/$file missing: give the folder \`tapwire hub enroll --out DIR\` wrote"; done
for id in "$merchant_id" "$glasses_owner" "$glasses_wallet"; do [ -z "$id" ] || [[ "$id" =~ ^[A-Za-z0-9._:-]{1,64}$ ]] || die "$id is not an id (1-64 of A-Z a-z 0-9 . _ : -)"; done
[[ "$broker_url" =~ ^mqtts://[^/[:space:]]+:[0-9]{1,5}$ ]] || die "--broker-url must be mqtts://HOST:PORT"
[ -z "$nfc_uart" ] || [[ "$nfc_uart" =~ ^tty(S|AMA)[0-9]$ ]] || die "--nfc-uart must be ttyS0 or ttyAMA0 (see /dev/serial0)"
[ -z "$nfc_uart" ] || [ ${#nfc_usb[@]} -eq 0 ] || die "--nfc-uart and --nfc-usb exclude each other"
if [ -n "$glasses_bundle" ]; then
  [ -n "$glasses_owner" ] && [ -n "$glasses_wallet" ] || die "--glasses-bundle needs --glasses-owner-id and --glasses-wallet-id"
  for file in ca.pem cert.pem key.pem service.pub.pem; do [ -f "$glasses_bundle/$file" ] || die "$glasses_bundle/$file missing"; done
fi
[ -z "$nfc_uart" ] && [ ${#nfc_usb[@]} -eq 0 ] && nfc_usb=(10c4:ea60 1a86:7523 0403:6001)
[ ${#panel_usb[@]} -eq 0 ] && panel_usb=(2341:0043 2341:0001)
for id in "${nfc_usb[@]}" "${panel_usb[@]}" ${scanner_usb:+"$scanner_usb"}; do [[ "$id" =~ ^[0-9a-f]{4}:[0-9a-f]{4}(:[A-Za-z0-9._-]+)?$ ]] || die "USB id $id is not VID:PID[:SERIAL] (lowercase hex)"; done
for nfc in "${nfc_usb[@]}"; do
  for panel in "${panel_usb[@]}"; do [ "$nfc" != "$panel" ] || die "$nfc is given for both the reader and the panel: add a serial number (VID:PID:SERIAL) to one"; done
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
live=0
[ "$(cd "$root" && pwd)" = / ] && live=1
etc="$root/etc/tapwire"
state="$root/var/lib/tapwire"
changed=0

# Owner and group on the Pi itself; under --root the files stay the caller's (there is no tapwire user there).
owner() { # user group
  [ "$live" = 1 ] && echo "-o $1 -g $2"
  return 0
}
# Copies when content, mode or owner differ (GNU install -C), so a second run leaves every file as it was.
put() { # mode user group source destination
  if ! cmp -s "$4" "$5" 2>/dev/null || [ "$(stat -c %a "$5")" != "${1#0}" ]; then changed=1; fi
  # shellcheck disable=SC2046 # owner() is empty or two options
  install -C -m "$1" $(owner "$2" "$3") "$4" "$5"
}
dirs() { # mode user group directory...
  local mode=$1 user=$2 group=$3; shift 3
  # shellcheck disable=SC2046
  install -d -m "$mode" $(owner "$user" "$group") "$@"
}

if [ "$live" = 1 ] && ! id tapwire >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/tapwire --no-create-home --shell /usr/sbin/nologin tapwire
  changed=1
fi

dirs 0750 root tapwire "$etc" "$etc/hub"
dirs 0750 tapwire tapwire "$state"
dirs 0755 root root "$root/etc/systemd/system" "$root/etc/udev/rules.d"
for file in ca.pem cert.pem key.pem service.pub.pem; do put 0640 root tapwire "$bundle/$file" "$etc/hub/$file"; done
put 0644 root root "$repo/schema/hub.schema.json" "$etc/hub.schema.json"
if [ ! -f "$etc/hub.json" ]; then
  node "$repo/bin/tapwire.mjs" hub init --bundle "$etc/hub" --merchant-id "$merchant_id" --broker-url "$broker_url" \
    --out "$etc/hub.json" --journal-file /var/lib/tapwire/journal.sqlite ${scanner_usb:+--scanner-path /dev/tapwire-scanner} >/dev/null
  chmod 0640 "$etc/hub.json"
  [ "$live" = 0 ] || chown root:tapwire "$etc/hub.json"
  changed=1
fi

hub_id_of() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed -n 's#^subject=CN=hubs/##p'; }
if [ -n "$glasses_bundle" ]; then
  dirs 0750 root tapwire "$etc/glasses"
  for file in ca.pem cert.pem key.pem service.pub.pem; do put 0640 root tapwire "$glasses_bundle/$file" "$etc/glasses/$file"; done
  put 0644 root root "$repo/schema/glasses.schema.json" "$etc/glasses.schema.json"
  glasses_hub_id=$(hub_id_of "$glasses_bundle/cert.pem")
  [ -n "$glasses_hub_id" ] || die "$glasses_bundle/cert.pem is not a hub's certificate (CN hubs/HUB)"
  if [ ! -f "$etc/glasses.json" ]; then
    cat >"$etc/glasses.json" <<EOF
{
  "\$schema": "./glasses.schema.json",
  "hubId": "$glasses_hub_id",
  "merchantId": "$merchant_id",
  "owner": { "ownerId": "$glasses_owner", "walletId": "$glasses_wallet", "lang": "en" },
  "broker": { "url": "$broker_url", "enrolmentDir": "glasses" },
  "journalFile": "/var/lib/tapwire/glasses-journal.sqlite",
  "pairingFile": "/var/lib/tapwire/glasses-pairing.json",
  "ble": { "hciDeviceId": 0 }
}
EOF
    chmod 0640 "$etc/glasses.json"
    [ "$live" = 0 ] || chown root:tapwire "$etc/glasses.json"
    changed=1
  fi
fi

put 0644 root root "$repo/deploy/pi/tapwire-hub.service" "$root/etc/systemd/system/tapwire-hub.service"
put 0644 root root "$repo/deploy/pi/tapwire-glasses-hub.service" "$root/etc/systemd/system/tapwire-glasses-hub.service"

# udev: the reader and the panel under names that survive re-plugging and USB renumbering.
rule() { # name VID:PID[:SERIAL]
  local vid=${2%%:*} rest=${2#*:}
  local pid=${rest%%:*} serial=""
  [ "$rest" = "$pid" ] || serial=", ATTRS{serial}==\"${rest#*:}\""
  echo "SUBSYSTEM==\"tty\", ATTRS{idVendor}==\"$vid\", ATTRS{idProduct}==\"$pid\"$serial, SYMLINK+=\"$1\", GROUP=\"dialout\", MODE=\"0660\""
}
rules=$(mktemp)
trap 'rm -f "$rules"' EXIT
{
  echo "# Written by tapwire's deploy/pi/install.sh: the PN532 reader as /dev/tapwire-nfc, the Firmata panel as /dev/tapwire-panel."
  if [ -n "$nfc_uart" ]; then
    echo "SUBSYSTEM==\"tty\", KERNEL==\"$nfc_uart\", SYMLINK+=\"tapwire-nfc\", GROUP=\"dialout\", MODE=\"0660\""
  else
    for id in "${nfc_usb[@]}"; do rule tapwire-nfc "$id"; done
  fi
  for id in "${panel_usb[@]}"; do rule tapwire-panel "$id"; done
  # The scanner's hidraw node (node-hid reads it), for the tapwire user only. Its keystrokes also reach the kernel's
  # console keyboard: the hub runs no login on tty1 (README).
  if [ -n "$scanner_usb" ]; then rule tapwire-scanner "$scanner_usb" | sed 's/SUBSYSTEM=="tty"/SUBSYSTEM=="hidraw"/; s/GROUP="dialout"/GROUP="tapwire"/'; fi
} >"$rules"
put 0644 root root "$rules" "$root/etc/udev/rules.d/99-tapwire.rules"

units=(tapwire-hub.service)
[ -f "$etc/glasses.json" ] && units+=(tapwire-glasses-hub.service)
if [ "$enable" = 1 ]; then
  for unit in "${units[@]}"; do
    wants="$root/etc/systemd/system/multi-user.target.wants/$unit"
    [ -L "$wants" ] || { systemctl --root="$root" --quiet enable "$unit" 2>/dev/null; changed=1; }
  done
fi

if [ "$live" = 1 ]; then
  [ -f /opt/tapwire/bin/tapwire.mjs ] || echo "install.sh: /opt/tapwire has no tapwire: the units run it from there (README)" >&2
  udevadm control --reload-rules && udevadm trigger --subsystem-match=tty --subsystem-match=hidraw
  systemctl daemon-reload
  [ "$enable" = 1 ] && systemctl start "${units[@]}"
fi
if [ "$changed" = 1 ]; then
  echo "tapwire installed into $root (units: ${units[*]}); after changes to a running hub: systemctl restart ${units[*]}"
else
  echo "tapwire already installed into $root: nothing changed"
fi
