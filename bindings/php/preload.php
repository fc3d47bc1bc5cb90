<?php

declare(strict_types=1);

/*
 * opcache.preload script for php-fpm: compiles the Cachekit classes once at
 * server start. The FFI binding itself is preloaded by php.ini
 * `ffi.preload=` (see README "php-fpm"): PHP refuses FFI::load() in an
 * opcache.preload script that runs as opcache.preload_user, which is how
 * servers started as root preload.
 *
 *   ffi.enable=preload
 *   ffi.preload=/path/to/bindings/php/build/cachekit.preload.h
 *   opcache.preload=/path/to/bindings/php/preload.php     ; optional, this file
 *   opcache.preload_user=www-data
 */

require __DIR__ . '/autoload.php';

// Loading through the autoloader (not opcache_compile_file) links each
// class with its parents and interfaces, so all of them are preloaded.
$src = __DIR__ . '/src/';
foreach (new RecursiveIteratorIterator(new RecursiveDirectoryIterator($src, FilesystemIterator::SKIP_DOTS)) as $file) {
    if ($file->getExtension() === 'php') {
        $class = 'Cachekit\\' . str_replace('/', '\\', substr($file->getPathname(), \strlen($src), -4));
        class_exists($class) || interface_exists($class) || trait_exists($class);
    }
}
