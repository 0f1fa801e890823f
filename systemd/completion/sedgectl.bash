# bash completion for sedgectl(8): its commands and options, and the names of the tunnels
# (and connectors, for status) that the running sedged reports in `sedgectl list`.

# The NAME and CONNECTOR columns of `sedgectl list` (header skipped); nothing without sedged.
_sedgectl_names() {
    local columns=$1
    local -a bus=()
    [[ " ${COMP_WORDS[*]} " == *" --user-bus "* ]] && bus=(--user-bus)
    command sedgectl "${bus[@]}" list 2>/dev/null |
        awk -v columns="$columns" 'NR > 1 { print $1; if (columns > 1) print $2 }' | sort -u
}

_sedgectl() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="status list sa steering up down monitor describe metrics reload check onboard help"
    local options="--json --user-bus --help"
    COMPREPLY=()

    # The command is the first word that is not an option (sedgectl's own options take no value).
    local i command= at=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} != -* ]]; then
            command=${COMP_WORDS[i]}
            at=$i
            break
        fi
    done

    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        return 0
    fi

    # The command's positional arguments so far (the words after it that are not options,
    # nor the value of --config-dir).
    local -a args=()
    for ((i = at + 1; i < COMP_CWORD; i++)); do
        [[ ${COMP_WORDS[i]} == -* ]] && continue
        [[ ${COMP_WORDS[i - 1]} == --config-dir ]] && continue
        args+=("${COMP_WORDS[i]}")
    done

    case $command in
        check | onboard)
            if [[ $prev == --config-dir ]]; then
                mapfile -t COMPREPLY < <(compgen -d -- "$cur")
                return 0
            fi
            ;;
    esac

    if [[ $cur == -* ]]; then
        case $command in
            check | onboard) options+=" --config-dir" ;;
        esac
        mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
        return 0
    fi

    case $command in
        status)
            ((${#args[@]} == 0)) && mapfile -t COMPREPLY < <(compgen -W "$(_sedgectl_names 2)" -- "$cur")
            ;;
        up | down)
            ((${#args[@]} == 0)) && mapfile -t COMPREPLY < <(compgen -W "$(_sedgectl_names 1)" -- "$cur")
            ;;
        onboard)
            ((${#args[@]} == 0)) && mapfile -t COMPREPLY < <(compgen -W "export-idtoken run status reset" -- "$cur")
            ;;
    esac
    return 0
}

complete -F _sedgectl sedgectl
