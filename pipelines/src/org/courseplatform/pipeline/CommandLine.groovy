package org.courseplatform.pipeline

/** Builds the shell line of a coursectl call: never interactive, plain output, one place for the program name. */
class CommandLine implements Serializable {

    private static final long serialVersionUID = 1L

    static final String PROGRAM = 'coursectl'

    static String of(String args) {
        return [PROGRAM, args.trim()].join(' ')
    }

    static String withLockWait(String args, int seconds) {
        return of("${args.trim()} --lock-wait ${seconds}")
    }

}
