/**
 * Security headers on every answer. Conveyor's own pages load nothing inline
 * (script and style come from /assets), so their policy is strict. bull-board's
 * UI needs inline styles (React style attributes, its loading screen) and loads
 * its font from Google Fonts: its pages get exactly those allowances and no more.
 */
import type { NextFunction, Request, Response } from 'express';
import { isHttps } from './auth.ts';

const COMMON = "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";
export const PAGE_CSP = `default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; ${COMMON}`;
export const BOARD_CSP = `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; font-src 'self' data: https://fonts.gstatic.com; base-uri 'self'; ${COMMON}`;

export function securityHeaders(boardPath: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const onBoard = req.path === boardPath || req.path.startsWith(`${boardPath}/`);
    res.set({
      'Content-Security-Policy': onBoard ? BOARD_CSP : PAGE_CSP,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'same-origin',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
    });
    if (isHttps(req)) res.set('Strict-Transport-Security', 'max-age=31536000');
    // Pages show live job data and carry CSRF tokens: never cache them.
    if (!req.path.startsWith('/assets/') && !req.path.startsWith(`${boardPath}/static/`)) res.set('Cache-Control', 'no-store');
    next();
  };
}
