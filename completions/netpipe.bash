# bash completion for netpipe(1).
#
# Installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/netpipe; source it by hand to
# try it: `. completions/netpipe.bash`.  It needs nothing from the
# bash-completion package.

# Every option, short and long, in the order of the man page.
_NETPIPE_SHORT='-4 -6 -b -C -D -d -e -F -h -I -i -k -l -M -m -N -n -O -P -p
	-q -r -S -s -T -t -U -u -V -v -W -w -X -x -Z -z'
_NETPIPE_LONG='--accept-timeout --allow --allow-file --append-output
	--broadcast --broker --broker-block --chat --crlf --dccp --debug
	--deny --deny-file --digest --exec --fdpass --forward --forward-passphrase
	--forward-tls
	--forward-tls-ca --forward-tls-name --forward-tls-noverify
	--forward-tls-pin --half-close --help
	--hex-dump --inherit-fd --interval --io --ipv4 --ipv6 --join
	--keep-open --listen --max-conns --md5sig --min-ttl --mptcp
	--no-stdin --numeric --output --passphrase --progress --proxy
	--proxy-dns --proxy-protocol --proxy-type --proxy-user --pty
	--queue-size --quit-after --random-ports --rate --recv-buf --recv-limit
	--recv-only --resume --resume-buffer --retry --retry-delay --rtable
	--scan --scan-parallel --send-buf --send-file --send-flags
	--send-only --seqpacket --sh-exec --shutdown --size --sockopt
	--source --source-port --stats --telnet --tls --tls-alpn --tls-ca
	--tls-cert --tls-key --tls-name --tls-noverify --tls-pin --tos --ttl
	--udp --unix --verbose --version --wait'

# _netpipe_value OPTION CUR: fill COMPREPLY with the values OPTION takes.
# Returns 1 when OPTION takes no argument, so CUR is something else.
_netpipe_value()
{
	local opt=$1 cur=$2 words=

	case $opt in
	--send-file|--output|--hex-dump|--tls-cert|--tls-key|--tls-ca|\
	--allow-file|--deny-file|--forward-tls-ca)
		# Files; directories get their slash and can be descended.
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	-e|--exec|--sh-exec)
		COMPREPLY=($(compgen -c -- "$cur"))
		return 0
		;;
	--io)
		words='auto rw send zerocopy' ;;
	-X|--proxy-type)
		words='4 4a 5 connect' ;;
	-T|--tos)
		words='lowdelay throughput reliability critical inetcontrol
		    netcontrol ef af11 af12 af13 af21 af22 af23 af31 af32 af33
		    af41 af42 af43 cs0 cs1 cs2 cs3 cs4 cs5 cs6 cs7' ;;
	--stats)
		words='text json' ;;
	--progress)
		words='auto always never' ;;
	--passphrase)
		words='new' ;;
	--digest)
		words='sha256' ;;
	--proxy-protocol)
		words='1 2' ;;
	--forward)
		# host:port, or a Unix socket's path.
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	--send-flags)
		words='oob' ;;
	--tls-alpn)
		# The common ones; a list of several is joined with commas.
		words='h2 http/1.1 http/1.0 acme-tls/1' ;;
	--sockopt)
		# Every name of sockopt.c's table, in its order; "=" where a
		# value is required.
		words='nodelay keepalive keepidle= keepintvl= keepcnt= reuseaddr
		    reuseport linger= rcvbuf= sndbuf= tos= ttl= minttl= mark=
		    congestion= quickack maxseg= user-timeout= bindtodevice=
		    fastopen= priority= debug broadcast'
		compopt -o nospace 2>/dev/null
		;;
	-I|-i|-M|-m|-O|-P|-p|-q|-s|-V|-W|-w|-x|--accept-timeout|--allow|--deny|\
	--inherit-fd|--interval|--join|--max-conns|--min-ttl|--proxy|\
	--proxy-user|--queue-size|--quit-after|--rate|--recv-buf|--recv-limit|\
	--resume-buffer|--retry|--retry-delay|--rtable|\
	--scan-parallel|--send-buf|--size|--source|--source-port|--tls-name|\
	--tls-pin|--ttl|--wait|--forward-tls-name|--forward-tls-pin)
		# A number, an address or a name: nothing to offer.
		COMPREPLY=()
		return 0
		;;
	*)
		return 1 ;;
	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
	return 0
}

_netpipe()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev= opt= i unix=0

	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# bash splits "--stats=js" at the "=" (COMP_WORDBREAKS) into
	# "--stats" "=" "js"; without "=" in COMP_WORDBREAKS it stays whole.
	if [[ $cur == = ]]; then
		opt=$prev
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		opt=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		cur=${cur#*=}
	fi
	if [[ -n $opt ]]; then
		_netpipe_value "$opt" "$cur"
		return 0
	fi

	# The argument of the option before, unless that takes none (and
	# the optional ones, --passphrase, --progress, --stats and
	# --proxy-protocol, only take one after =).
	if [[ $prev == -* && $prev != --progress && $prev != --stats &&
	    $prev != --proxy-protocol && $prev != --passphrase ]] &&
	    _netpipe_value "$prev" "$cur"; then
		return 0
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$_NETPIPE_SHORT $_NETPIPE_LONG" -- "$cur"))
		return 0
	fi

	# Operands: a socket path with -U, otherwise a host.  -U may stand
	# alone or anywhere in a cluster of short flags: -U, -lU, -Ul, -uUl.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--unix) unix=1 ;;
		--*) ;;
		-*U*) unix=1 ;;
		esac
	done
	if ((unix)); then
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
	else
		COMPREPLY=($(compgen -A hostname -- "$cur"))
	fi
	return 0
}

complete -F _netpipe netpipe
