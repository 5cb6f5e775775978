/*
 * protocols/parse.h - the result codes every parser in protocols/ returns.
 */
#ifndef KT_PROTOCOLS_PARSE_H
#define KT_PROTOCOLS_PARSE_H

enum parse_result {
    PARSE_OK = 0,    /* one complete unit parsed */
    PARSE_AGAIN = 1, /* more bytes are needed; nothing consumed */
    PARSE_ERROR = 2  /* invalid input; see the parser's error fields */
};

#endif
