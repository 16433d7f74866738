#!/usr/bin/env tclsh
# Example 3 chat server (Tcl). Listens on 127.0.0.1:7777 (or the port given
# as the first argument); every line a client sends goes to all clients as
# "clientN: text", and joins and leaves are announced as "clientN connected"
# / "clientN disconnected".
#
# Fixed from the talk: the client name is "client<count>" (the talk built
# the literal "clients::chat::count"), broadcast iterates over the
# channel/name dictionary, channels are non-blocking so a partial line
# cannot hang the server, and writes to a client that has gone are caught.
namespace eval ::chat {
    variable count 0
    variable clients [dict create]  ;# channel -> name
    variable port 7777
}

proc ::chat::main {argv} {
    if {[llength $argv] > 0} {
        set ::chat::port [lindex $argv 0]
    }
    socket -server ::chat::new-connection-handler -myaddr 127.0.0.1 $::chat::port
    puts "chat server listening on 127.0.0.1:$::chat::port"
    flush stdout
    vwait forever
}

proc ::chat::new-connection-handler {channel clientAddr clientPort} {
    incr ::chat::count
    set name client$::chat::count
    dict set ::chat::clients $channel $name

    puts "Incoming connection from ('$clientAddr', $clientPort): $name"
    fconfigure $channel -blocking 0 -buffering line -encoding utf-8 \
        -translation {auto lf}
    ::chat::broadcast "$name connected"

    fileevent $channel readable [list ::chat::readable-handler $channel]
}

proc ::chat::broadcast message {
    puts $message
    flush stdout
    dict for {otherChannel otherName} $::chat::clients {
        if {[catch {puts $otherChannel $message}]} {
            # Gone: its readable handler will see EOF and clean up.
        }
    }
}

proc ::chat::readable-handler channel {
    set senderName [dict get $::chat::clients $channel]
    while {[set n [catch {gets $channel line} result]] == 0 && $result >= 0} {
        ::chat::broadcast "$senderName: $line"
    }
    if {$n != 0 || [eof $channel]} {
        dict unset ::chat::clients $channel
        catch {close $channel}
        ::chat::broadcast "$senderName disconnected"
    }
}

::chat::main $argv
