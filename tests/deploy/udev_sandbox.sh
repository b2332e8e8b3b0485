#!/bin/sh
# Runs `udevadm test` on a recorded device (umockdev) with only the given rules file, in a mount
# namespace of its own: a private /dev and /run (udevadm test makes the device's links there, and
# would otherwise write to this machine's /dev and /run/udev), no other rules file.
#   unshare -m udev_sandbox.sh RULES RECORDING SYSPATH WORKDIR
set -eu
rules=$1 recording=$2 syspath=$3 work=$4
mount --make-rprivate /
mkdir -p "$work/dev" "$work/rules" "$work/empty"
cp "$rules" "$work/rules/"
mount -t tmpfs tmpfs "$work/dev"
mkdir "$work/dev/pts"
for node in null zero urandom random full tty; do
    touch "$work/dev/$node"
    mount --bind "/dev/$node" "$work/dev/$node"
done
mount --bind /dev/pts "$work/dev/pts"
ln -s pts/ptmx "$work/dev/ptmx"  # umockdev-run opens a pty for the device node
mount --rbind "$work/dev" /dev
mount -t tmpfs tmpfs /run
mount --bind "$work/rules" /etc/udev/rules.d
for dir in /usr/lib/udev/rules.d /lib/udev/rules.d; do
    [ -d "$dir" ] && mount --bind "$work/empty" "$dir"
done
exec umockdev-run --device "$recording" -- udevadm test --action=add "$syspath"
