#!/bin/sh
# After every boot: is the station up? A slot booted for the first time after an update (it is
# not in the firmware's BootOrder yet) is marked good only when bodydock reached READY and stayed
# up; otherwise it is marked bad and the dock reboots into the previous slot. A failure on a slot
# that is already good is reported, never a reason to switch slots.
set -u
TIMEOUT=${BODYDOCK_HEALTH_TIMEOUT_S:-600}
STABLE=${BODYDOCK_HEALTH_STABLE_S:-20}
say() { echo "bodydock-health: $*"; }

booted=$(sed -n 's/.*rauc\.slot=\([^ ]*\).*/\1/p' /proc/cmdline)
num=$(efibootmgr | sed -n "s/^Boot\([0-9A-Fa-f]\{4\}\)\*\{0,1\} $booted\b.*/\1/p" | head -n1)
order=$(efibootmgr | sed -n 's/^BootOrder: //p')
trial=no
case ",$order," in *",$num,"*) ;; *) trial=yes ;; esac
version=$(cat /usr/lib/bodydock/image-version 2>/dev/null || echo unknown)
say "slot $booted, image version $version, trial boot: $trial"

healthy() {
    start=$(date +%s)
    up_since=""
    while :; do
        now=$(date +%s)
        state=$(systemctl show -P ActiveState bodydock.service)
        restarts=$(systemctl show -P NRestarts bodydock.service)
        if [ "${restarts:-0}" -ge 3 ] || [ "$state" = failed ]; then
            say "bodydock.service is $state after $restarts restarts"
            return 1
        fi
        # A unit bodydock.service requires that failed leaves it inactive for good (not failed):
        # say so now instead of waiting out the whole timeout.
        for unit in bodydock-data.service bodydock-provision.service; do
            if [ "$(systemctl show -P ActiveState "$unit")" = failed ]; then
                say "$unit failed, so bodydock.service cannot start"
                return 1
            fi
        done
        if [ "$state" = active ]; then
            [ -n "$up_since" ] || up_since=$now
            if [ $((now - up_since)) -ge "$STABLE" ]; then
                if /opt/bodydock/venv/bin/bodydock status --json --config /data/config/station.yaml >/dev/null 2>&1 \
                    || [ $? -le 2 ]; then
                    return 0
                fi
                say "bodydock status did not answer"
                return 1
            fi
        else
            up_since=""
        fi
        if [ $((now - start)) -ge "$TIMEOUT" ]; then
            say "bodydock.service not up after ${TIMEOUT}s (state $state)"
            return 1
        fi
        sleep 2
    done
}

if healthy; then
    if rauc status mark-good booted >/dev/null; then
        say "healthy: slot $booted (version $version) marked good"
        exit 0
    fi
    say "healthy, but marking slot $booted good failed (rauc)"
    exit 1
fi
if [ "$trial" = yes ]; then
    say "health check FAILED on trial boot of $booted: marking it bad and rebooting into the previous slot"
    rauc status mark-bad booted || true
    systemctl reboot
    exit 1
fi
say "health check FAILED on slot $booted (already good): staying, staff must look"
exit 1
