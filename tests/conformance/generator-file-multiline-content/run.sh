#!/bin/sh
set -e
echo "hello $USER"
	indented with tab
