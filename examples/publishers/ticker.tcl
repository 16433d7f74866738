#!/usr/bin/env tclsh
# ticker.tcl: publish the time of day to the resource /clock every second.
#
#   WSPIPE_BROKER=/path/to/broker.sock ./ticker.tcl [RESOURCE]
#
# Tcl 8.6 has no AF_UNIX sockets, so the connection to the broker goes
# through a pipe: `socat - UNIX-CONNECT:$sock` (Debian: apt-get install socat)
# speaks the broker's line protocol (`publish RESOURCE DATA`); without socat,
# `wspipe publish RESOURCE` (WSPIPE_BIN, else wspipe on PATH) publishes each
# line of its stdin. If the pipe breaks, the ticker reopens it.

set resource [expr {$argc > 0 ? [lindex $argv 0] : "/clock"}]
if {![info exists env(WSPIPE_BROKER)]} {
    puts stderr "ticker.tcl: set WSPIPE_BROKER to the broker's socket"
    exit 1
}
set sock $env(WSPIPE_BROKER)

proc connect {} {
    global sock resource env
    if {[auto_execok socat] ne ""} {
        set ch [open [list |socat - UNIX-CONNECT:$sock 2>@stderr] r+]
        set prefix "publish $resource "
    } else {
        set bin [expr {[info exists env(WSPIPE_BIN)] ? $env(WSPIPE_BIN) : "wspipe"}]
        set ch [open [list |$bin publish --socket=$sock $resource 2>@stderr] w]
        set prefix ""
    }
    fconfigure $ch -buffering line -blocking 0
    if {$prefix ne ""} {
        # The broker only answers errors: show them.
        fileevent $ch readable [list apply {{ch} {
            if {[gets $ch line] >= 0} { puts stderr "broker: $line" }
            if {[eof $ch]} { catch {close $ch} }
        }} $ch]
    }
    return [list $ch $prefix]
}

proc tick {} {
    global conn
    set now [clock milliseconds]
    set data [format {{"time":"%s","at":%d}} \
        [clock format [expr {$now / 1000}] -format %H:%M:%S] $now]
    if {[catch {
        if {$conn eq ""} { set conn [connect] }
        lassign $conn ch prefix
        puts $ch "$prefix$data"
        flush $ch
    } err]} {
        puts stderr "ticker.tcl: $err (retrying)"
        if {$conn ne ""} { catch {close [lindex $conn 0]} }
        set conn ""
    }
    after [expr {1000 - [clock milliseconds] % 1000}] tick
}

set conn ""
tick
vwait forever
